import unittest

from taskhost import _results as R

S, P, X, B, F, E, A = R.Skipped, R.Passed, R.Passx, R.Blocked, R.Failed, R.Errored, R.Aborted
SEVEN = [S, P, X, B, F, E, A]

# ROLLUP[i][j] is rollup(SEVEN[i], SEVEN[j]), written out by hand from
# Aborted > Errored > Failed > Blocked > Passx > Passed > Skipped.
ROLLUP = [
    [S, P, X, B, F, E, A],
    [P, P, X, B, F, E, A],
    [X, X, X, B, F, E, A],
    [B, B, B, B, F, E, A],
    [F, F, F, F, F, E, A],
    [E, E, E, E, E, E, A],
    [A, A, A, A, A, A, A],
]


class TestResults(unittest.TestCase):
    def test_rollup_pairs(self):
        for i, a in enumerate(SEVEN):
            for j, b in enumerate(SEVEN):
                self.assertIs(R.rollup(a, b), ROLLUP[i][j], "%r + %r" % (a, b))

    def test_rollup_unset(self):
        self.assertIsNone(R.rollup())
        self.assertIsNone(R.rollup(None, None))
        self.assertIs(R.rollup(None, S), S)
        self.assertIs(R.rollup(P, None, F, None), F)

    def test_success(self):
        self.assertEqual([r for r in SEVEN if r.success], [S, P, X])

    def test_names(self):
        self.assertEqual([str(r) for r in SEVEN],
                         ["skipped", "passed", "passx", "blocked", "failed", "errored", "aborted"])
        self.assertEqual([r.title for r in SEVEN],
                         ["Skipped", "Passed", "Passx", "Blocked", "Failed", "Errored", "Aborted"])
        for r in SEVEN:
            self.assertIs(R.parse(" " + r.title.upper() + "\n"), r)
        with self.assertRaisesRegex(ValueError, "unknown result"):
            R.parse("pass")

    def test_public_names(self):
        import taskhost
        self.assertIs(taskhost.Passx, X)
        self.assertIs(taskhost.Aborted, A)


if __name__ == "__main__":
    unittest.main()
