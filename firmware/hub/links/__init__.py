"""Links: move bytes between the outside world and the dispatcher."""
