"""One library function per pipeline, called by the command line and the demo."""
