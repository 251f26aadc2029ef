// Modules the build makes (vite.config.ts).

declare module 'virtual:webhook-reasons' {
  import type { ReasonDoc } from './lib/reasonDocs';
  /** The webhook's refusal reasons as docs/errors.md explains them. */
  const reasons: Record<string, ReasonDoc>;
  export default reasons;
}

declare module 'virtual:replay-reasons' {
  import type { ReasonDoc } from './lib/reasonDocs';
  /** ReplayCallback's refusals and failures as docs/errors.md explains them. */
  const reasons: Record<string, ReasonDoc>;
  export default reasons;
}
