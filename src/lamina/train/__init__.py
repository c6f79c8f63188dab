"""lamina.train"""
