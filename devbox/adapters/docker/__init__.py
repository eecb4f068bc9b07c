"""Docker engine adapters: the only modules importing the docker SDK."""
