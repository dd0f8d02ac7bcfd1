"""The data owner's side: per-sample gradients, selectors, the honest answer to a query."""
