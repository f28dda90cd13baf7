"""osiris chat: an LLM author of OML that uses the compiler as a library."""
