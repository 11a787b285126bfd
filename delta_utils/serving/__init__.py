"""Models and how they are served and called: the registry, llama.cpp and vLLM servers, the engines, batch judging.
Imports core/ and data/."""
