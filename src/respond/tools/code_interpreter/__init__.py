"""code_interpreter: containers (durable files, idle expiry), the bubblewrap sandbox, its Jupyter kernel, the tool."""
