"""One router per resource: health, styles, stylize (photos), jobs (videos and optimisations)."""
