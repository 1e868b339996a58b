"""HTTP concerns shared by the Serve ingress: request limits and error bodies."""
