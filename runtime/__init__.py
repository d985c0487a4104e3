"""What runs inside a node: its environment from the LangGraph runtime (`environment`), and the helpers
that need it: the tournament selector (`knockout`) and a tool-using draft's loop (`tool_loop`)."""
