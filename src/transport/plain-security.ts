/**
 * A plain Security for links: NO authentication and NO encryption. Each side names itself in one
 * handshake frame ("gv-plain/1 " + its node key) and frames then travel as they are. It exists so that
 * links, the daemon and their tests run before (and without) fleet credentials; src/transport/secure.ts
 * is the real one. The daemon uses it only when told to (no fleet credentials, loopback or --insecure),
 * and says so.
 */
import * as core from '../core/index.ts'
import type { Handshake, Security, Session } from './links.ts'

const tag = 'gv-plain/1 '
const peerCharsMax = 128

function session(peer: string): Session {
  return { peer, seal: (plain) => plain, open: (sealed) => core.ok(sealed) }
}

function parseHello(bytes: Uint8Array): core.Result<string, 'handshake'> {
  const s = new TextDecoder('utf-8', { fatal: false }).decode(bytes)
  if (!s.startsWith(tag)) return core.fail('handshake', 'not a plain handshake')
  const peer = s.slice(tag.length)
  if (peer.length === 0 || peer.length > peerCharsMax || !/^[\x21-\x7e]+$/.test(peer)) return core.fail('handshake', 'bad peer name in plain handshake')
  return core.ok(peer)
}

/** Plain links for a node whose key is `self` (see the header: insecure). */
export function plainSecurity(self: string): Security {
  const hello = new TextEncoder().encode(tag + self)
  return {
    initiate(expectedPeer) {
      let done = false
      const handshake: Handshake = {
        receive(bytes) {
          if (done) return core.fail('handshake', 'handshake already complete')
          const p = parseHello(bytes)
          if (!p.ok) return p
          if (expectedPeer !== undefined && p.value !== expectedPeer) return core.fail('handshake', `expected ${expectedPeer}, met ${p.value}`)
          done = true
          return core.ok({ session: session(p.value) })
        },
      }
      return { handshake, first: hello }
    },
    respond() {
      let done = false
      return {
        receive(bytes) {
          if (done) return core.fail('handshake', 'handshake already complete')
          const p = parseHello(bytes)
          if (!p.ok) return p
          done = true
          return core.ok({ send: hello, session: session(p.value) })
        },
      }
    },
  }
}
