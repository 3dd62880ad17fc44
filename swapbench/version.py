"""The package version, in the base layer so that any module can record it without importing the root
package (which is the public API's facade)."""

__version__ = "0.1.0"
