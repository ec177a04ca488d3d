// Calls through the Vercel AI SDK with its telemetry on, exported as OTLP/JSON to a sink:
//   node record.mjs FAKE_URL SINK_URL ok|fail
// (run by tests/record_vercel_ai.py, which serves both).
import { BasicTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { generateText, streamText, embed } from "ai";
import { createOpenAI } from "@ai-sdk/openai";
import { createAnthropic } from "@ai-sdk/anthropic";

const [fake, sink, what] = process.argv.slice(2);
const provider = new BasicTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: sink }))],
});
const telemetry = { isEnabled: true, tracer: provider.getTracer("ai"), functionId: "golden" };
const openai = createOpenAI({ baseURL: `${fake}/v1`, apiKey: "k" });
const anthropic = createAnthropic({ baseURL: `${fake}/v1`, apiKey: "k" });
const prompt = "What is the capital of France?";

if (what === "ok") {
  await generateText({ model: openai.chat("gpt-4o"), prompt, experimental_telemetry: telemetry });
  const stream = streamText({ model: openai.chat("gpt-4o"), prompt, experimental_telemetry: telemetry });
  for await (const _ of stream.textStream) { /* read it all */ }
  await embed({ model: openai.embedding("text-embedding-3-small"), value: "golden",
                experimental_telemetry: telemetry });
  await generateText({ model: anthropic("claude-sonnet-4-6"), prompt, experimental_telemetry: telemetry });
} else {
  for (const model of [openai.chat("gpt-4o"), anthropic("claude-sonnet-4-6")]) {
    try {
      await generateText({ model, prompt, maxRetries: 0, experimental_telemetry: telemetry });
    } catch { /* the rate limit, as scripted */ }
  }
}
await provider.shutdown();
