"""One module per alert format: its wire model (from the vendor's documented field list) and its Detections."""
