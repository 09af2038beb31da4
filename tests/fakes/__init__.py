"""Local HTTP servers that imitate the providers' APIs. The real SDKs are pointed at them."""
