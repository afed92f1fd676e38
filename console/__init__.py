"""The province's console: its users' accounts now; the web pages (issue 13) use them."""
