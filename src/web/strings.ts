/**
 * Every user-visible sentence, in English and Simplified Chinese. The server renders pages in the
 * browser's language (Accept-Language); the page scripts read `<html lang>` for dynamic text.
 */
export type Lang = 'en' | 'zh-CN';

const en = {
  tagline: 'Live streaming on your local network',
  lobbyTitle: 'Live now',
  lobbyEmpty: 'No one is live right now.',
  lobbyWatch: 'Watch',
  lobbyStartTitle: 'Start broadcasting',
  lobbyRoom: 'Room name',
  lobbyKey: 'Publish key',
  lobbyGo: 'Open broadcast page',
  lobbyRoomHint: 'Letters, digits, - and _',
  lobbyLoadError: 'Cannot reach the server; retrying…',
  lobbyProtected: 'view password needed',
  watching: '{n} watching',
  waitingViewers: '{n} waiting',
  broadcastTitle: 'Broadcast: {room}',
  camera: 'Camera',
  microphone: 'Microphone',
  noDevice: 'None',
  start: 'Go live',
  stop: 'Stop',
  publishKey: 'Publish key',
  keyHint: 'Printed in the terminal where lancast runs',
  roomPassword: 'View password',
  roomPasswordHint: 'Optional: viewers must type it',
  watchLink: 'Watch link',
  copy: 'Copy',
  copied: 'Copied',
  mode: 'Mode: {mode}',
  modeWhy: 'Mode: {mode} ({reason})',
  bStateIdle: 'Not live. Pick what to show, then go live.',
  bStateStarting: 'Starting…',
  bStateConnecting: 'Connecting to the server…',
  bStateLive: 'Live',
  bStatePaused: 'Live, paused: nobody is watching. Sending starts again as soon as someone opens the watch link.',
  bStateError: 'Stopped',
  uplink: 'Upload {rate}',
  errBadKey: 'Wrong publish key. Use the key printed in the terminal where lancast runs.',
  errReplaced: 'Another broadcaster with the publish key took over this room.',
  errPermission: 'The browser refused the camera or microphone. Allow access and try again.',
  errNoDevice: 'No camera or microphone was found.',
  errInsecure: 'The camera needs a secure page. Open the https:// address that lancast printed.',
  errBadRoom: 'That room name is not allowed.',
  errServer: 'The server refused: {message}',
  reconnecting: 'Lost the server; reconnecting…',
  watchTitle: 'Watch: {room}',
  qrAlt: 'QR code of the watch link',
  errBadRoomName: 'Room names use letters, digits, - and _ (1 to 64 characters).',
  errNotFound: 'Nothing here.',
  vWaiting: 'Waiting for the broadcaster…',
  vConnecting: 'Connecting…',
  vLive: 'Live',
  vStalled: 'The picture stopped; reconnecting…',
  vOffline: 'The broadcast has ended. It will resume here by itself when it comes back.',
  vError: 'Cannot play this stream.',
  unmute: 'Unmute',
  fullscreen: 'Full screen',
  password: 'View password',
  passwordSubmit: 'Watch',
  errBadPassword: 'Wrong view password.',
  errNeedPassword: 'This room needs a view password.',
  errRoomFull: 'This room is full. Try again later.',
  errTooManyRooms: 'This server has as many rooms as it may hold. Use an existing room or try later.',
  errAttempts: 'Too many wrong attempts. Wait {seconds} seconds, then try again.',
  errCodec: 'This browser cannot play this stream ({codec} video). Try Chrome, Edge or Safari, or ask the broadcaster to use VP8.',
  backToLobby: 'All rooms',
  source: 'Show',
  sourceCamera: 'Camera',
  sourceScreen: 'Screen',
  sourceScreenCamera: 'Screen with camera',
  screenAudio: "Include the screen's sound (where the browser offers it)",
  shareScreen: 'Share your screen',
  needClick: 'This browser shares a screen only after a click: press "Share your screen".',
  errScreenRefused: 'Screen sharing was cancelled or refused.',
  errNoScreen: 'This browser cannot share a screen.',
  showingCamera: 'Showing the camera.',
  showingScreen: 'Showing your screen.',
  showingScreenCamera: 'Showing your screen, with the camera in the corner.',
  showingNothing: 'Sending sound only.',
  endedCamera: 'Screen sharing ended; showing the camera.',
  endedStill: 'Screen sharing ended; viewers see "Presenter paused".',
  stillTitle: 'Presenter paused',
  stillHint: 'The broadcast goes on in a moment',
  preset: 'Quality',
  preset_auto: 'Automatic: sharp text for a screen, 720p for the camera',
  preset_text: 'Sharp text (full resolution, up to 15 fps)',
  preset_motion: 'Motion (up to 60 fps, for video and games)',
  preset_camera: 'Camera (720p, 30 fps)',
  preset_saver: 'Data saver (about 0.6 Mbit/s)',
  sending: 'Sending {width}×{height} · {fps} fps · {rate}',
  recTitle: 'Recordings',
  recKey: 'Publish key',
  recShow: 'Show recordings',
  recEmpty: 'No recordings yet.',
  recRoom: 'Room',
  recStarted: 'Started',
  recDuration: 'Duration',
  recSize: 'Size',
  recPlay: 'Play',
  recDownload: 'Download',
  recDelete: 'Delete',
  recBadKey: 'Wrong publish key.',
  recNow: 'recording',
  recLoadError: 'The recordings could not be loaded.',
  recStart: 'Record',
  recStop: 'Stop recording',
  recOn: 'Recording {time} · {size}',
  recWaiting: 'Recording: waiting for the stream…',
  recFailed: 'Recording stopped: {error}. The live stream goes on.',
  recRelay: 'Recording moves this room to the relay: the server receives the stream to write the file.',
  recList: 'Recordings',
} as const;

export type StringKey = keyof typeof en;

const zh: Record<StringKey, string> = {
  tagline: '局域网直播',
  lobbyTitle: '正在直播',
  lobbyEmpty: '现在没有人在直播。',
  lobbyWatch: '观看',
  lobbyStartTitle: '开始直播',
  lobbyRoom: '房间名',
  lobbyKey: '推流密钥',
  lobbyGo: '打开直播页面',
  lobbyRoomHint: '字母、数字、- 和 _',
  lobbyLoadError: '无法连接服务器，正在重试…',
  lobbyProtected: '需要观看密码',
  watching: '{n} 人观看',
  waitingViewers: '{n} 人等待',
  broadcastTitle: '直播：{room}',
  camera: '摄像头',
  microphone: '麦克风',
  noDevice: '无',
  start: '开始直播',
  stop: '停止',
  publishKey: '推流密钥',
  keyHint: '在运行 lancast 的终端中显示',
  roomPassword: '观看密码',
  roomPasswordHint: '可选：观众需要输入',
  watchLink: '观看链接',
  copy: '复制',
  copied: '已复制',
  mode: '模式：{mode}',
  modeWhy: '模式：{mode}（{reason}）',
  bStateIdle: '未直播。选择直播内容，然后开始直播。',
  bStateStarting: '正在启动…',
  bStateConnecting: '正在连接服务器…',
  bStateLive: '直播中',
  bStatePaused: '直播中，已暂停发送：暂时无人观看。有人打开观看链接时会立即恢复。',
  bStateError: '已停止',
  uplink: '上传 {rate}',
  errBadKey: '推流密钥错误。请使用运行 lancast 的终端中显示的密钥。',
  errReplaced: '另一个持有密钥的主播接管了这个房间。',
  errPermission: '浏览器拒绝了摄像头或麦克风。请允许访问后重试。',
  errNoDevice: '没有找到摄像头或麦克风。',
  errInsecure: '摄像头需要安全页面。请打开 lancast 显示的 https:// 地址。',
  errBadRoom: '不允许使用这个房间名。',
  errServer: '服务器拒绝：{message}',
  reconnecting: '与服务器断开，正在重连…',
  watchTitle: '观看：{room}',
  qrAlt: '观看链接的二维码',
  errBadRoomName: '房间名只能使用字母、数字、- 和 _（1 到 64 个字符）。',
  errNotFound: '这里什么也没有。',
  vWaiting: '等待主播开播…',
  vConnecting: '正在连接…',
  vLive: '直播中',
  vStalled: '画面中断，正在重新连接…',
  vOffline: '直播已结束。主播回来时会自动继续播放。',
  vError: '无法播放这个直播。',
  unmute: '取消静音',
  fullscreen: '全屏',
  password: '观看密码',
  passwordSubmit: '观看',
  errBadPassword: '观看密码错误。',
  errNeedPassword: '这个房间需要观看密码。',
  errRoomFull: '这个房间已满，请稍后再试。',
  errTooManyRooms: '服务器的房间数已达上限。请使用已有房间或稍后再试。',
  errAttempts: '错误尝试次数过多。请等待 {seconds} 秒后重试。',
  errCodec: '这个浏览器无法播放这个直播（{codec} 视频）。请换用 Chrome、Edge 或 Safari，或请主播改用 VP8。',
  backToLobby: '所有房间',
  source: '直播内容',
  sourceCamera: '摄像头',
  sourceScreen: '屏幕',
  sourceScreenCamera: '屏幕和摄像头',
  screenAudio: '包含屏幕的声音（浏览器支持时）',
  shareScreen: '共享屏幕',
  needClick: '这个浏览器需要点击才能共享屏幕：请按“共享屏幕”。',
  errScreenRefused: '屏幕共享已取消或被拒绝。',
  errNoScreen: '这个浏览器无法共享屏幕。',
  showingCamera: '正在显示摄像头。',
  showingScreen: '正在显示屏幕。',
  showingScreenCamera: '正在显示屏幕，角落里显示摄像头。',
  showingNothing: '只发送声音。',
  endedCamera: '屏幕共享已结束，正在显示摄像头。',
  endedStill: '屏幕共享已结束，观众看到“主讲人已暂停”。',
  stillTitle: '主讲人已暂停',
  stillHint: '直播稍后继续',
  preset: '画质',
  preset_auto: '自动：屏幕清晰显示文字，摄像头 720p',
  preset_text: '文字清晰（原始分辨率，最高 15 帧/秒）',
  preset_motion: '流畅（最高 60 帧/秒，适合视频和游戏）',
  preset_camera: '摄像头（720p，30 帧/秒）',
  preset_saver: '省流量（约 0.6 Mbit/s）',
  sending: '正在发送 {width}×{height} · {fps} 帧/秒 · {rate}',
  recTitle: '录像',
  recKey: '推流密钥',
  recShow: '显示录像',
  recEmpty: '还没有录像。',
  recRoom: '房间',
  recStarted: '开始时间',
  recDuration: '时长',
  recSize: '大小',
  recPlay: '播放',
  recDownload: '下载',
  recDelete: '删除',
  recBadKey: '推流密钥错误。',
  recNow: '录制中',
  recLoadError: '无法加载录像列表。',
  recStart: '录制',
  recStop: '停止录制',
  recOn: '录制中 {time} · {size}',
  recWaiting: '录制：等待视频流…',
  recFailed: '录制已停止：{error}。直播继续。',
  recRelay: '录制会把本房间切换到中继：服务器接收视频流并写入文件。',
  recList: '录像列表',
};

export const STRINGS: Record<Lang, Record<StringKey, string>> = { en, 'zh-CN': zh };

/** The language for a list of preferences (navigator.languages or Accept-Language). */
export function pickLang(preferences: readonly string[]): Lang {
  for (const p of preferences) {
    const tag = p.trim().toLowerCase();
    if (tag.startsWith('zh')) return 'zh-CN';
    if (tag.startsWith('en')) return 'en';
  }
  return 'en';
}

/** Accept-Language header -> ordered tags. */
export function parseAcceptLanguage(header: string | undefined): string[] {
  if (!header) return [];
  return header
    .split(',')
    .map((part) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => /^q=([\d.]+)$/.exec(p.trim())?.[1]).find(Boolean);
      return { tag, q: q ? Number(q) : 1 };
    })
    .filter((x) => x.tag && x.q > 0)
    .sort((a, b) => b.q - a.q)
    .map((x) => x.tag);
}

export function t(lang: Lang, key: StringKey, vars: Record<string, string | number> = {}): string {
  return STRINGS[lang][key].replace(/\{(\w+)\}/g, (_, name: string) => String(vars[name] ?? ''));
}

/**
 * The server explains a room's mode in English (`room.reason`, from src/signaling/hub.ts); the
 * broadcast page shows it in the page's language. An explanation not listed stays in English.
 */
const ZH_REASONS: [RegExp, string][] = [
  [/^peer to peer: this server has no relay$/, '点对点：服务器没有中继'],
  [/^peer to peer: the broadcaster sends to each viewer$/, '点对点：主播直接发送给每位观众'],
  [/^peer to peer: chosen for this room \(WHEP cannot play it\)$/, '点对点：本房间指定（WHEP 播放器无法观看）'],
  [/^peer to peer: chosen for this room$/, '点对点：本房间指定'],
  [/^peer to peer: (\d+) viewers or fewer$/, '点对点：观众不超过 $1 人'],
  [/^relay: the broadcaster publishes over WHIP$/, '中继：主播通过 WHIP 推流'],
  [/^relay: WHEP players are watching$/, '中继：有 WHEP 播放器在观看'],
  [/^relay: chosen for this room$/, '中继：本房间指定'],
  [/^relay: more than (\d+) viewers$/, '中继：观众超过 $1 人'],
  [/^relay: this room is being recorded$/, '中继：本房间正在录制'],
  [/^server shutting down$/, '服务器正在关闭'],
];

export function modeReason(lang: Lang, reason: string): string {
  if (lang === 'en') return reason;
  const hit = ZH_REASONS.find(([pattern]) => pattern.test(reason));
  return hit ? reason.replace(hit[0], hit[1]) : reason;
}
