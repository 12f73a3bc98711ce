"""The tasks demo app: a to-do list that the chat manages through an assistant."""
