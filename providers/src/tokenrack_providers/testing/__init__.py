"""Token emulator personalities for the vendors of the pack, one module per vendor.

Each enforces its vendor's rules strictly, so a provider plugin tested against it meets
the same refusals the vendor gives. :mod:`tokenrack_providers.testing.personalities` lists
them all; each is also registered in the ``tokenrack.personalities`` entry-point group, by
the provider name it mirrors, for ``tokenrack emulator --personality NAME``. They build on
:mod:`tokenrack.testing` (the emulator and its ``Personality`` API) only.

Empty of imports, so loading one personality's entry point imports that vendor alone.
"""
