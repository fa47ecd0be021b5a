hello ${name} in ${upper(region)}
