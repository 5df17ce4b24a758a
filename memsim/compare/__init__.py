"""The comparison side: closed-form ridge and generalized Tikhonov, and the one digital SGD for every network."""
