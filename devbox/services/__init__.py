"""Services: one module per capability. They compose adapters into steps; no direct imports of
outside libraries here."""
