"""Model calls: one call and its record (`model_call`), which failures are retried (`retry`), what
tracers see (`tracing`), token counting (`token_count`), and the question as a message with its images
(`image_input`)."""
