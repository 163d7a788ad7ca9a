"""Views, one module per page family; each stays thin: load, check access, call selectors."""
