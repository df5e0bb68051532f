"""Services: state and rules. They never know which link a request came by."""
