"""Models: the SASRec backbone, PCL prompts, task adapters, and their composition."""
