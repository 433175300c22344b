// The part of hls.js 1.7 (static/vendor/hls.min.mjs) the front end uses; see hls.js's API.md.

export interface HlsConfig {
  liveSyncDurationCount?: number;
  lowLatencyMode?: boolean;
}

export interface ErrorData {
  type: string;
  details: string;
  fatal: boolean;
}

export default class Hls {
  constructor(config?: HlsConfig);
  static isSupported(): boolean;
  static readonly Events: { readonly ERROR: 'hlsError'; readonly MANIFEST_PARSED: 'hlsManifestParsed' };
  static readonly ErrorTypes: {
    readonly NETWORK_ERROR: 'networkError';
    readonly MEDIA_ERROR: 'mediaError';
    readonly OTHER_ERROR: 'otherError';
  };
  /** Estimated seconds behind the live edge. */
  readonly latency: number;
  readonly audioTracks: readonly unknown[];
  loadSource(url: string): void;
  attachMedia(media: HTMLMediaElement): void;
  startLoad(startPosition?: number): void;
  stopLoad(): void;
  recoverMediaError(): void;
  destroy(): void;
  on(event: 'hlsError', listener: (event: string, data: ErrorData) => void): void;
  on(event: string, listener: (event: string, data: any) => void): void;
}
