// tests/clients/conformance.mjs — the official `openai` and `@anthropic-ai/sdk` npm clients
// (pinned in package-lock.json) against a live switchyard, used exactly as an application uses
// them. run_conformance.sh starts the gateway with conformance.lua and runs this script.
//
// usage: node conformance.mjs BASE_URL [--only openai|anthropic|CHECK,...] [--list]
//   BASE_URL  e.g. http://127.0.0.1:8080 (the OpenAI client gets BASE_URL/v1, the Anthropic
//             client BASE_URL: it appends /v1/messages itself)
// Prints "ok  <name>" or "FAIL <name>: <why>" per check; exit 1 when any check fails, 2 on a
// usage error or when the SDKs are not installed.
//
// Models (conformance.lua): sim `small`, `medium`, `large` (deterministic, no broken JSON),
// routes `auto` and `starter`, `tooler` (the mock upstream: always calls get_weather with
// {"city":"Paris"}) and `claude` (the mock's Anthropic Messages API through the anthropic
// provider: "Hello from mock?tag=conformance&chunks=4", streamed in 4 pieces).

let OpenAI, Anthropic;
try {
    OpenAI = (await import("openai")).default;
    Anthropic = (await import("@anthropic-ai/sdk")).default;
} catch (e) {
    console.error(`conformance: the SDKs are not installed in tests/clients/node_modules ` +
                  `(${e.code ?? e.message}): run \`make test-deps\``);
    process.exit(2);
}

/* ---- arguments ------------------------------------------------------------------------- */

const args = process.argv.slice(2);
let base = null, only = null, list = false;
for (let i = 0; i < args.length; i++) {
    if (args[i] === "--only") only = (args[++i] ?? "").split(",").filter(Boolean);
    else if (args[i].startsWith("--only=")) only = args[i].slice(7).split(",").filter(Boolean);
    else if (args[i] === "--list") list = true;
    else if (!base && /^https?:\/\//.test(args[i])) base = args[i].replace(/\/+$/, "");
    else {
        console.error(`conformance: unexpected argument ${args[i]}`);
        process.exit(2);
    }
}
if (!base && !list) {
    console.error("usage: node conformance.mjs BASE_URL [--only openai|anthropic|CHECK,...] [--list]");
    process.exit(2);
}

/* ---- helpers ---------------------------------------------------------------------------- */

class CheckError extends Error {}
function expect(cond, why) {
    if (!cond) throw new CheckError(why);
}
const show = (v) => {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 300 ? s.slice(0, 300) + "…" : s;
};
function expectEq(got, want, what) {
    expect(got === want, `${what}: expected ${show(want)}, got ${show(got)}`);
}
const isCount = (n) => Number.isInteger(n) && n > 0;

/* An error the call must throw: returns it, or fails the check when the call succeeds. */
async function rejects(promiseFn, what) {
    try {
        const r = await promiseFn();
        throw new CheckError(`${what}: expected an error, got ${show(r)}`);
    } catch (e) {
        if (e instanceof CheckError) throw e;
        return e;
    }
}
/* The SDK error's class, status and message, or why they are not what is expected. */
function expectApiError(e, Sdk, cls, status, messageHas) {
    const what = `${e?.constructor?.name ?? typeof e} ${e?.status ?? ""} ${e?.message ?? e}`;
    expect(e instanceof Sdk[cls], `expected ${Sdk.name}.${cls}, got ${what}`);
    expect(e instanceof Sdk.APIError, `expected an ${Sdk.name}.APIError, got ${what}`);
    expectEq(e.status, status, "status");
    if (messageHas) expect(String(e.message).includes(messageHas),
                           `message ${show(e.message)} does not name ${show(messageHas)}`);
}

const WEATHER_SCHEMA = {
    type: "object",
    properties: { city: { type: "string" } },
    required: ["city"],
    additionalProperties: false,
};
const PERSON_SCHEMA = {
    type: "object",
    properties: {
        name: { type: "string" },
        age: { type: "integer" },
        languages: { type: "array", items: { type: "string" } },
    },
    required: ["name", "age", "languages"],
    additionalProperties: false,
};
const user = (content) => [{ role: "user", content }];
const SIM_MODELS = ["small", "medium", "large"];

const openai = base && new OpenAI({ baseURL: base + "/v1", apiKey: "unused", maxRetries: 0,
                                    timeout: 20000 });
const anthropic = base && new Anthropic({ baseURL: base, apiKey: "unused", maxRetries: 0,
                                          timeout: 20000 });

/* ---- checks through `openai` ------------------------------------------------------------ */

const checks = [];
const check = (name, fn) => checks.push({ name, fn });

check("openai.chat.create", async () => {
    const { data: r, response } = await openai.chat.completions
        .create({ model: "auto", messages: user("What is the capital of France?") })
        .withResponse();
    expectEq(r.object, "chat.completion", "object");
    expect(typeof r.id === "string" && r.id.length > 0, `id ${show(r.id)}`);
    expect(SIM_MODELS.includes(r.model), `model ${show(r.model)} is not one of the route's`);
    expectEq(response.headers.get("x-switchyard-model"), r.model, "x-switchyard-model header");
    expectEq(r.choices.length, 1, "choices.length");
    const c = r.choices[0];
    expectEq(c.message.role, "assistant", "message.role");
    expect(typeof c.message.content === "string" && c.message.content.length > 0,
           `message.content ${show(c.message.content)}`);
    expectEq(c.finish_reason, "stop", "finish_reason");
    const u = r.usage;
    expect(u && isCount(u.prompt_tokens) && isCount(u.completion_tokens),
           `usage ${show(u)}`);
    expectEq(u.total_tokens, u.prompt_tokens + u.completion_tokens, "usage.total_tokens");
});

check("openai.chat.max_tokens", async () => {
    const r = await openai.chat.completions.create({
        model: "medium", max_tokens: 3, messages: user("Tell me a long story"),
    });
    expectEq(r.choices[0].finish_reason, "length", "finish_reason");
    expectEq(r.usage?.completion_tokens, 3, "usage.completion_tokens");
});

check("openai.chat.stream", async () => {
    const messages = user("Say hello to the stream");
    const stream = await openai.chat.completions.create({
        model: "medium", stream: true, stream_options: { include_usage: true }, messages,
    });
    let text = "", pieces = 0, finishes = [], usage = null, ids = new Set();
    for await (const chunk of stream) {
        expectEq(chunk.object, "chat.completion.chunk", "chunk.object");
        ids.add(chunk.id);
        for (const ch of chunk.choices) {
            if (typeof ch.delta?.content === "string" && ch.delta.content.length) {
                text += ch.delta.content;
                pieces++;
            }
            if (ch.finish_reason) finishes.push(ch.finish_reason);
        }
        if (chunk.usage) usage = chunk.usage;
    }
    expect(pieces > 1, `${pieces} content chunk(s): not streamed token by token`);
    expectEq(ids.size, 1, "distinct chunk ids");
    expectEq(finishes.join(","), "stop", "finish_reasons");
    expect(usage && isCount(usage.prompt_tokens) && isCount(usage.completion_tokens),
           `no usage chunk with include_usage (last usage ${show(usage)})`);
    expectEq(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens,
             "usage.total_tokens");
    // sim answers are deterministic per (model, messages): as long as the non-stream answer
    // (not the same words: sy_prov_sim.c draws a streamed answer's words after its latency)
    const whole = await openai.chat.completions.create({ model: "medium", messages });
    expectEq(usage.completion_tokens, whole.usage.completion_tokens,
             "streamed vs non-stream completion_tokens");
});

check("openai.chat.stream.no_usage", async () => {
    const stream = await openai.chat.completions.create({
        model: "small", stream: true, messages: user("No usage please"),
    });
    let n = 0;
    for await (const chunk of stream) {
        n++;
        expect(chunk.usage == null, `usage sent without include_usage: ${show(chunk)}`);
    }
    expect(n > 1, `${n} chunk(s)`);
});

check("openai.chat.stream.helper", async () => {
    // the SDK's stream helper accumulates the chunks into a ChatCompletion itself
    const stream = openai.beta.chat.completions.stream({
        model: "auto", messages: user("Stream through the helper"),
    });
    let deltas = "";
    stream.on("content", (delta) => { deltas += delta; });
    const final = await stream.finalChatCompletion();
    const content = final.choices[0]?.message?.content;
    expect(typeof content === "string" && content.length > 0, `final content ${show(content)}`);
    expectEq(deltas, content, "content deltas vs finalChatCompletion");
    expectEq(final.choices[0].finish_reason, "stop", "finish_reason");
    expect(SIM_MODELS.includes(final.model), `model ${show(final.model)}`);
});

check("openai.json_schema", async () => {
    const r = await openai.chat.completions.create({
        model: "auto", messages: user("Extract: Ada Lovelace, 36, English and French"),
        response_format: { type: "json_schema",
                           json_schema: { name: "person", schema: PERSON_SCHEMA, strict: true } },
    });
    const content = r.choices[0].message.content;
    let v;
    try { v = JSON.parse(content); } catch (e) { throw new CheckError(`content is not JSON: ${show(content)}`); }
    for (const k of PERSON_SCHEMA.required) expect(k in v, `key ${k} missing in ${show(v)}`);
    expect(typeof v.name === "string" && Number.isInteger(v.age) && Array.isArray(v.languages),
           `types do not follow the schema: ${show(v)}`);
    expectEq(Object.keys(v).length, 3, "keys (additionalProperties: false)");
});

check("openai.json_schema.parse", async () => {
    // beta.chat.completions.parse: the SDK parses the content into message.parsed
    const r = await openai.beta.chat.completions.parse({
        model: "auto", messages: user("Extract: Grace Hopper, 85"),
        response_format: { type: "json_schema",
                           json_schema: { name: "person", schema: PERSON_SCHEMA, strict: true } },
    });
    const p = r.choices[0].message.parsed;
    expect(p && typeof p.name === "string" && Number.isInteger(p.age), `parsed ${show(p)}`);
});

check("openai.json_schema.stream", async () => {
    // an enforced stream is held until it checks, then sent: still a valid SSE stream
    const stream = await openai.chat.completions.create({
        model: "auto", stream: true, messages: user("Extract as a stream: Alan Turing, 41"),
        response_format: { type: "json_schema",
                           json_schema: { name: "person", schema: PERSON_SCHEMA, strict: true } },
    });
    let text = "", finish = null;
    for await (const chunk of stream) {
        text += chunk.choices[0]?.delta?.content ?? "";
        finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    let v;
    try { v = JSON.parse(text); } catch (e) { throw new CheckError(`streamed content is not JSON: ${show(text)}`); }
    for (const k of PERSON_SCHEMA.required) expect(k in v, `key ${k} missing in ${show(v)}`);
    expectEq(finish, "stop", "finish_reason");
});

check("openai.tools", async () => {
    const tools = [{ type: "function", function: {
        name: "get_weather", description: "Current weather in a city",
        parameters: WEATHER_SCHEMA, strict: true } }];
    const messages = user("What is the weather in Paris?");
    const r = await openai.chat.completions.create({
        model: "tooler", messages, tools,
        tool_choice: { type: "function", function: { name: "get_weather" } },
    });
    const msg = r.choices[0].message;
    expectEq(r.choices[0].finish_reason, "tool_calls", "finish_reason");
    const call = msg.tool_calls?.[0];
    expect(call, `no tool_calls in ${show(msg)}`);
    expectEq(call.type, "function", "tool_calls[0].type");
    expectEq(call.function.name, "get_weather", "tool_calls[0].function.name");
    let a;
    try { a = JSON.parse(call.function.arguments); } catch (e) { throw new CheckError(`arguments are not JSON: ${show(call.function.arguments)}`); }
    expectEq(a.city, "Paris", "arguments.city");
    // the agent loop's second turn: the call and its result go back, to a sim route
    const r2 = await openai.chat.completions.create({
        model: "auto", tools,
        messages: [...messages, msg,
                   { role: "tool", tool_call_id: call.id, content: '{"temp_c": 21}' }],
    });
    const c2 = r2.choices[0].message.content;
    expect(typeof c2 === "string" && c2.length > 0, `second turn content ${show(c2)}`);
});

check("openai.tools.sim_agent", async () => {
    // a sim model as an agent: tool_choice auto calls the tool (arguments valid for its
    // schema), the tool's result gets a text answer
    const tools = [{ type: "function", function: { name: "get_weather", parameters: WEATHER_SCHEMA } }];
    const messages = user("What is the weather in Paris?");
    const r = await openai.chat.completions.create({ model: "medium", messages, tools });
    expectEq(r.choices[0].finish_reason, "tool_calls", "finish_reason");
    const msg = r.choices[0].message;
    const call = msg.tool_calls?.[0];
    expectEq(call?.function?.name, "get_weather", "tool_calls[0].function.name");
    const a = JSON.parse(call.function.arguments);
    expect(typeof a.city === "string", `arguments ${show(call.function.arguments)}`);
    const r2 = await openai.chat.completions.create({
        model: "medium", tools,
        messages: [...messages, msg, { role: "tool", tool_call_id: call.id, content: "21 C" }] });
    expectEq(r2.choices[0].finish_reason, "stop", "second turn finish_reason");
    expect(!r2.choices[0].message.tool_calls?.length, "second turn calls a tool again");
});

check("openai.tools.parse", async () => {
    // beta.chat.completions.parse with a strict tool: the SDK parses the arguments itself
    const r = await openai.beta.chat.completions.parse({
        model: "tooler", messages: user("Weather in Paris?"), tool_choice: "required",
        tools: [{ type: "function", function: { name: "get_weather",
                                                parameters: WEATHER_SCHEMA, strict: true } }],
    });
    const call = r.choices[0].message.tool_calls?.[0];
    expectEq(call?.function?.parsed_arguments?.city, "Paris", "parsed_arguments.city");
});

check("openai.models.list", async () => {
    const ids = [];
    for await (const m of openai.models.list()) {
        expectEq(m.object, "model", `object of ${m.id}`);
        ids.push(m.id);
    }
    for (const want of [...SIM_MODELS, "tooler", "claude", "auto", "starter"])
        expect(ids.includes(want), `${want} not listed in ${show(ids)}`);
});

check("openai.error.not_found", async () => {
    const e = await rejects(() => openai.chat.completions.create({
        model: "no-such-model", messages: user("hi") }), "unknown model");
    expectApiError(e, OpenAI, "NotFoundError", 404, "no-such-model");
    expectEq(e.code, "model_not_found", "code");
    expectEq(e.param, "model", "param");
    expectEq(e.type, "invalid_request_error", "type");
});

check("openai.error.not_found.stream", async () => {
    // a stream's error arrives before the first chunk, as the same typed error
    const e = await rejects(async () => {
        const s = await openai.chat.completions.create({
            model: "no-such-model", stream: true, messages: user("hi") });
        for await (const _ of s);
    }, "unknown model, streamed");
    expectApiError(e, OpenAI, "NotFoundError", 404, "no-such-model");
});

check("openai.error.bad_request", async () => {
    const e = await rejects(() => openai.chat.completions.create({ model: "auto", messages: [] }),
                            "messages: []");
    expectApiError(e, OpenAI, "BadRequestError", 400, "messages");
    expectEq(e.param, "messages", "param");
    expectEq(e.type, "invalid_request_error", "type");
});

/* ---- checks through `@anthropic-ai/sdk` (POST /v1/messages) ------------------------------ */

const STOP_REASONS = ["end_turn", "max_tokens", "stop_sequence", "tool_use"];
function expectMessage(m, what) {
    expectEq(m?.type, "message", `${what}.type`);
    expectEq(m.role, "assistant", `${what}.role`);
    expect(typeof m.id === "string" && m.id.length > 0, `${what}.id ${show(m.id)}`);
    expect(typeof m.model === "string" && m.model.length > 0, `${what}.model ${show(m.model)}`);
    expect(Array.isArray(m.content), `${what}.content is not an array: ${show(m.content)}`);
    expect(STOP_REASONS.includes(m.stop_reason), `${what}.stop_reason ${show(m.stop_reason)}`);
    expect(m.usage && isCount(m.usage.input_tokens) && isCount(m.usage.output_tokens),
           `${what}.usage ${show(m.usage)}`);
}
const textOf = (m) => m.content.filter((b) => b.type === "text").map((b) => b.text).join("");

check("anthropic.messages.create", async () => {
    const { data: m, response } = await anthropic.messages
        .create({ model: "auto", max_tokens: 256,
                  messages: user("What is the capital of France?") })
        .withResponse();
    expectMessage(m, "message");
    expectEq(m.content[0]?.type, "text", "content[0].type");
    expect(typeof m.content[0].text === "string" && m.content[0].text.length > 0,
           `content[0].text ${show(m.content[0].text)}`);
    expectEq(m.stop_reason, "end_turn", "stop_reason");
    expect(SIM_MODELS.includes(m.model), `model ${show(m.model)} is not one of the route's`);
    expectEq(response.headers.get("x-switchyard-model"), m.model, "x-switchyard-model header");
});

check("anthropic.messages.blocks", async () => {
    // a system prompt, content as blocks, and a multi-turn conversation
    const m = await anthropic.messages.create({
        model: "medium", max_tokens: 256, system: "You answer in one sentence.",
        messages: [
            { role: "user", content: [{ type: "text", text: "Hello" }] },
            { role: "assistant", content: [{ type: "text", text: "Hi! How can I help?" }] },
            { role: "user", content: [{ type: "text", text: "Name a colour." }] },
        ],
    });
    expectMessage(m, "message");
    expectEq(m.model, "medium", "model");
    expect(textOf(m).length > 0, `no text in ${show(m.content)}`);
});

check("anthropic.messages.max_tokens", async () => {
    const m = await anthropic.messages.create({
        model: "medium", max_tokens: 3, messages: user("Tell me a long story") });
    expectEq(m.stop_reason, "max_tokens", "stop_reason");
    expectEq(m.usage?.output_tokens, 3, "usage.output_tokens");
});

check("anthropic.messages.stream", async () => {
    const params = { model: "medium", max_tokens: 256, messages: user("Say hello to the stream") };
    const stream = anthropic.messages.stream(params);
    let text = "", pieces = 0;
    stream.on("text", (delta) => { text += delta; pieces++; });
    const final = await stream.finalMessage();
    expectMessage(final, "finalMessage()");
    expect(pieces > 1, `${pieces} text delta(s): not streamed token by token`);
    expectEq(textOf(final), text, "text deltas vs finalMessage()");
    expectEq(final.stop_reason, "end_turn", "stop_reason");
    // sim answers are deterministic per (model, messages): as long as the non-stream answer
    const whole = await anthropic.messages.create(params);
    expectEq(final.usage.output_tokens, whole.usage.output_tokens,
             "streamed vs non-stream output_tokens");
});

check("anthropic.messages.create_stream", async () => {
    // the raw server-sent events, in the order the API reference gives them
    const stream = await anthropic.messages.create({
        model: "auto", max_tokens: 256, stream: true, messages: user("Stream raw events") });
    const types = [];
    let text = "", stop = null, outTokens = null, start = null;
    for await (const ev of stream) {
        types.push(ev.type);
        if (ev.type === "message_start") start = ev.message;
        if (ev.type === "content_block_delta" && ev.delta.type === "text_delta") text += ev.delta.text;
        if (ev.type === "message_delta") {
            stop = ev.delta.stop_reason;
            outTokens = ev.usage?.output_tokens;
        }
    }
    const seq = types.filter((t, i) => t !== types[i - 1]).join(" ").replace(/ ping/g, "");
    expectEq(seq, "message_start content_block_start content_block_delta content_block_stop " +
                  "message_delta message_stop", "event sequence (repeats folded)");
    expect(start && start.role === "assistant" && isCount(start.usage?.input_tokens),
           `message_start.message ${show(start)}`);
    expect(text.length > 0, "no text_delta text");
    expectEq(stop, "end_turn", "message_delta.delta.stop_reason");
    expect(isCount(outTokens), `message_delta.usage.output_tokens ${show(outTokens)}`);
});

check("anthropic.tools", async () => {
    const tools = [{ name: "get_weather", description: "Current weather in a city",
                     input_schema: WEATHER_SCHEMA }];
    const messages = user("What is the weather in Paris?");
    const m = await anthropic.messages.create({
        model: "tooler", max_tokens: 256, messages, tools,
        tool_choice: { type: "tool", name: "get_weather" },
    });
    expectMessage(m, "message");
    expectEq(m.stop_reason, "tool_use", "stop_reason");
    const use = m.content.find((b) => b.type === "tool_use");
    expect(use, `no tool_use block in ${show(m.content)}`);
    expect(typeof use.id === "string" && use.id.length > 0, `tool_use.id ${show(use.id)}`);
    expectEq(use.name, "get_weather", "tool_use.name");
    expect(use.input && typeof use.input === "object", `tool_use.input ${show(use.input)}`);
    expectEq(use.input.city, "Paris", "tool_use.input.city");
    // the second turn: the tool_use block and a tool_result go back, to a sim route
    const m2 = await anthropic.messages.create({
        model: "auto", max_tokens: 256, tools,
        messages: [...messages, { role: "assistant", content: m.content },
                   { role: "user", content: [{ type: "tool_result", tool_use_id: use.id,
                                               content: '{"temp_c": 21}' }] }],
    });
    expectMessage(m2, "second turn");
    expect(textOf(m2).length > 0, `second turn has no text: ${show(m2.content)}`);
});

/* Either SDK, either dialect, to a model behind the anthropic provider: the request goes
 * through the one internal shape to the Messages API and back. */
const CLAUDE_TEXT = "Hello from mock?tag=conformance&chunks=4";

check("openai.to_anthropic_provider", async () => {
    const r = await openai.chat.completions.create({
        model: "claude", messages: [{ role: "system", content: "Be brief." }, ...user("Hi")] });
    expectEq(r.model, "claude", "model");
    expectEq(r.choices[0].message.content, CLAUDE_TEXT, "message.content");
    expectEq(r.choices[0].finish_reason, "stop", "finish_reason (from end_turn)");
    expect(isCount(r.usage?.prompt_tokens) && isCount(r.usage?.completion_tokens),
           `usage ${show(r.usage)}`);
    const stream = await openai.chat.completions.create({
        model: "claude", stream: true, stream_options: { include_usage: true }, messages: user("Hi") });
    let text = "", pieces = 0, usage = null, finish = null;
    for await (const chunk of stream) {
        const c = chunk.choices[0];
        if (c?.delta?.content) { text += c.delta.content; pieces++; }
        if (c?.finish_reason) finish = c.finish_reason;
        if (chunk.usage) usage = chunk.usage;
    }
    expectEq(text, CLAUDE_TEXT, "streamed content");
    expectEq(pieces, 4, "content chunks (the mock's 4 text deltas)");
    expectEq(finish, "stop", "finish_reason");
    expect(usage && isCount(usage.completion_tokens), `usage ${show(usage)}`);
});

check("anthropic.to_anthropic_provider", async () => {
    const m = await anthropic.messages.create({
        model: "claude", max_tokens: 64, system: "Be brief.", messages: user("Hi") });
    expectMessage(m, "message");
    expectEq(textOf(m), CLAUDE_TEXT, "text");
    expectEq(m.stop_reason, "end_turn", "stop_reason");
    const stream = anthropic.messages.stream({ model: "claude", max_tokens: 64, messages: user("Hi") });
    let text = "";
    stream.on("text", (delta) => { text += delta; });
    const final = await stream.finalMessage();
    expectMessage(final, "finalMessage()");
    expectEq(text, CLAUDE_TEXT, "streamed text");
    expectEq(final.stop_reason, "end_turn", "stop_reason");
});

/* Anthropic error bodies: {"type": "error", "error": {"type": "not_found_error", "message"}} */
function expectAnthropicBody(e, type) {
    expectEq(e.error?.type, "error", `body.type (body ${show(e.error)})`);
    expectEq(e.error?.error?.type, type, "body.error.type");
    expect(typeof e.error?.error?.message === "string", `body.error.message ${show(e.error)}`);
}

check("anthropic.error.not_found", async () => {
    const e = await rejects(() => anthropic.messages.create({
        model: "no-such-model", max_tokens: 16, messages: user("hi") }), "unknown model");
    expectApiError(e, Anthropic, "NotFoundError", 404);
    expectAnthropicBody(e, "not_found_error");
    expect(e.error.error.message.includes("no-such-model"),
           `message ${show(e.error.error.message)} does not name the model`);
});

check("anthropic.error.bad_request", async () => {
    const e = await rejects(() => anthropic.messages.create({
        model: "auto", max_tokens: 16, messages: [] }), "messages: []");
    expectApiError(e, Anthropic, "BadRequestError", 400);
    expectAnthropicBody(e, "invalid_request_error");
});

check("anthropic.error.max_tokens_required", async () => {
    // max_tokens is required by the Messages API (the SDK's types say so; JS callers can omit it)
    const e = await rejects(() => anthropic.messages.create({
        model: "auto", messages: user("hi") }), "no max_tokens");
    expectApiError(e, Anthropic, "BadRequestError", 400);
    expectAnthropicBody(e, "invalid_request_error");
    expect(e.error.error.message.includes("max_tokens"),
           `message ${show(e.error.error.message)} does not name max_tokens`);
});

/* ---- run --------------------------------------------------------------------------------- */

const selected = checks.filter(({ name }) =>
    !only || only.some((o) => name === o || name.startsWith(o + ".")));
if (list) {
    for (const { name } of selected) console.log(name);
    process.exit(0);
}
if (selected.length === 0) {
    console.error(`conformance: no check matches --only ${only.join(",")}`);
    process.exit(2);
}
let failed = 0;
for (const { name, fn } of selected) {
    try {
        await fn();
        console.log(`ok  ${name}`);
    } catch (e) {
        failed++;
        const why = e instanceof CheckError ? e.message
                  : `${e?.constructor?.name ?? "error"}${e?.status ? " " + e.status : ""}: ${e?.message ?? e}`;
        console.log(`FAIL ${name}: ${why.replace(/\s*\n\s*/g, " ")}`);
    }
}
console.log(`${selected.length - failed} of ${selected.length} checks passed` +
            (only ? ` (--only ${only.join(",")})` : ""));
process.exit(failed ? 1 : 0);
