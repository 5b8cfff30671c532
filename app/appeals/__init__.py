"""Appeals (申诉): a graduate's objection to one item, answered at that item's checkpoint desk.

A domain package: models (and, as the layout reshape goes on, services); no blueprint, no request,
no translated strings."""
