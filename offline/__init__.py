"""emotrack."""
