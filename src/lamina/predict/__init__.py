"""lamina.predict"""
