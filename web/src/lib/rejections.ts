// What to check for each reason the webhook refuses a delivery with: advice
// for the admin who opens the Rejected deliveries page because "the webhook
// fails with 401". The explanations themselves come from docs/errors.md.

import reasons from 'virtual:webhook-reasons';
import type { ReasonDoc } from './reasonDocs';

/** hints say what to check first, by reason. Every key is a reason of docs/errors.md (a unit test holds them to it). */
export const hints: Record<string, string> = {
  signature_missing: 'The sender sent no signature header: check that it signs its callbacks (X-Webhook-Signature) and that no proxy strips the header.',
  signature_mismatch:
    "The sender's secret differs from every --webhook-secret here (the job's own webhook_secret or LLM_WEBHOOK_SECRET), or the body was re-serialised by a proxy on the way (whitespace, key order, escaping).",
  signature_malformed: 'The signature header is not "sha256=<64 hex digits>" (or its scheme\'s format): check the sender\'s signing code.',
  timestamp_malformed: 'The timestamp header of a timestamped scheme (Standard Webhooks, Stripe) is missing or not a number.',
  timestamp_out_of_tolerance: "The sender's clock differs from this server's by more than the tolerance, or an old delivery was replayed: check NTP on both.",
  rate_limited: 'This address failed authentication too often: fix the signature first, the limit lifts by itself.',
  body_too_large: 'The payload exceeds --max-body-bytes: shrink the result the sender includes, or raise the limit.',
  unsupported_content_encoding: 'The body was compressed (gzip, br) on the way: turn compression off for this route in the proxy.',
  unsupported_media_type: 'The Content-Type is not JSON: the sender (or a proxy) must send application/json.',
  body_unreadable: 'The connection broke mid-body or stalled: check the network and proxies between the sender and callbackd.',
  empty_body: 'The body was empty: check the sender and any proxy that might drop it.',
  invalid_utf8: 'The body is not UTF-8: check the sender\'s encoding.',
  malformed_json: 'The body is not valid JSON: check what the sender (or a proxy) wrote.',
  missing_event: 'The payload has no "event": check the sender\'s payload builder.',
  missing_job_id: 'The payload has no "job_id": check the sender\'s payload builder.',
  missing_step_id: 'A step event without "step_id": check the sender\'s payload builder.',
  event_mismatch: 'X-Webhook-Event names another event than the body: a broken or tampered sender.',
};

/** explain returns what the docs say about reason, and the hint; null parts when there are none. */
export function explain(reason: string, docs: Record<string, ReasonDoc> = reasons): { doc: ReasonDoc | null; hint: string | null } {
  return { doc: Object.hasOwn(docs, reason) ? (docs[reason] ?? null) : null, hint: Object.hasOwn(hints, reason) ? (hints[reason] ?? null) : null };
}
