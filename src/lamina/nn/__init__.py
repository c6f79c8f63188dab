"""lamina.nn"""
