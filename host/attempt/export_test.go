package attempt

// LostEvents is lostEvents, for the tests in package attempt_test (they
// use host/hub, which imports this package).
var LostEvents = (*Runner).lostEvents
