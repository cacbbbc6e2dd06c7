# The release this tree is: shown on every page, recorded by catalog_ready.
RELEASE = "remove"
