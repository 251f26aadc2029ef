import { useEffect, useState } from 'react';
import { useSession } from '../session';

/** ServerInfo is what the UI learns about the server it talks to. */
export interface ServerInfo {
  developmentSecret: boolean;
  version: string;
  commit: string;
  goVersion: string;
}

/**
 * useServerInfo asks the server once per session how it is configured.
 * null until it answers; a server that cannot tell (an older version, a
 * failed call) is shown without warnings, and a 401 logs out as usual.
 */
export function useServerInfo(): ServerInfo | null {
  const { client } = useSession();
  const [info, setInfo] = useState<ServerInfo | null>(null);
  useEffect(() => {
    let live = true;
    client
      .getServerInfo({})
      .then((res) => {
        if (live)
          setInfo({
            developmentSecret: res.server?.developmentSecret ?? false,
            version: res.server?.version ?? '',
            commit: res.server?.commit ?? '',
            goVersion: res.server?.goVersion ?? '',
          });
      })
      .catch(() => {
        if (live) setInfo({ developmentSecret: false, version: '', commit: '', goVersion: '' });
      });
    return () => {
      live = false;
    };
  }, [client]);
  return info;
}

/**
 * DevelopmentSecretBanner warns, on every page, that the webhook accepts the
 * LLM service's public development secret: anyone can then forge callbacks,
 * so what the UI shows cannot be trusted to come from the real service.
 */
export function DevelopmentSecretBanner({ info }: { info: ServerInfo | null }) {
  if (!info?.developmentSecret) return null;
  return (
    <div role="alert" className="banner-warning" data-testid="development-secret-banner">
      <div className="mx-auto max-w-7xl px-3 py-2 sm:px-6">
        <span aria-hidden="true">⚠ </span>
        <strong>Development secret in use.</strong> This server accepts webhooks signed with the LLM service&apos;s public
        development secret, so anyone can forge callbacks. Configure the service&apos;s real secret with{' '}
        <code className="whitespace-nowrap">--webhook-secret</code> or <code className="whitespace-nowrap">LLM_WEBHOOK_SECRET</code>.
      </div>
    </div>
  );
}

/**
 * BuildFooter names the server's build (version, commit, Go version), so
 * that an admin reporting a problem can say which build showed it. Nothing
 * while the server has not said, or could not.
 */
export function BuildFooter({ info }: { info: ServerInfo | null }) {
  if (!info?.version) return null;
  const commit = info.commit.length > 12 && info.commit !== 'unknown' ? info.commit.slice(0, 12) + (info.commit.endsWith('-dirty') ? '-dirty' : '') : info.commit;
  return (
    <footer className="mx-auto max-w-7xl px-3 py-4 text-xs muted sm:px-6" data-testid="build-info">
      callbackd {info.version}
      {commit && <> · commit <span title={info.commit}>{commit}</span></>}
      {info.goVersion && <> · {info.goVersion}</>}
    </footer>
  );
}
