"""lamina.export"""
