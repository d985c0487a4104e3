"""Model calls: one call and its record (`model_call`), which failures are retried (`retry`), what
tracers see (`tracing`), token counting (`token_count`), the question as a message with its images
(`image_input`), and a sync function and its async twin written once (`steps`)."""
