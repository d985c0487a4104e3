"""The ways into PDR from other software: a LangChain chat model (`langchain_chat`), a LangChain tool
(`langchain_tool`), an OpenAI-compatible HTTP endpoint (`openai_endpoint`, `pdr serve`) and an MCP server
(`mcp_endpoint`, `pdr mcp`)."""
