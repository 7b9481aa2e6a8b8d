"""Start-up: what a short-lived process imports and reads (issue 15)."""
