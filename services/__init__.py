"""Business logic: plain functions over models. They flush; callers commit once."""
