"""Pure functions on arrays: the course's equations and their derivatives."""
