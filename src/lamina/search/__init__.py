"""lamina.search"""
