"""One router per concept; each route is thin: authorize, call one use case, render."""
