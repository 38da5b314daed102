"""One router per area; each only validates input, calls ``kasparro.query`` and renders."""
