"""The tools a draft may call: the built-in ones and a run's tool set (`toolbox`), the sandboxed `python`
tool (`sandboxed_python`, its confinement in `sandbox` and `sandbox_boot`), MCP servers' tools
(`mcp_client`), and a tool-using draft as later calls read it (`transcript`)."""
