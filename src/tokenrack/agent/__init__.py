"""The token agent, ``tokenrack serve``: a config's profiles served to local processes."""
