/**
 * `npx node sim/ae-steady.ts`: anti-entropy's wire bytes per new op in steady state, measured where the
 * issue's figure means something: a fleet with the push fast path in front (sim/report.ts's cluster,
 * 50 ms links, ticks at random phases, anti-entropy and push at their defaults but fanout 2).
 *
 * The figure: bytes of every anti-entropy message delivered (digests and deltas, on the wire) during 50
 * one-second rounds of steady writing, divided by the encoded bytes of the ops delivered (each new op
 * counted once per node that had to receive it: op bytes x (n - 1)). Also printed: the fast path's bytes
 * on the same scale, the share of anti-entropy bytes that were ops (the rest is digests and framing),
 * and how many op copies anti-entropy carried (a copy the push also delivered is a duplicate).
 * A measurement, not a test: it prints and exits 0.
 */
import { antiEntropy } from '../src/gossip/index.ts'
import { createCluster } from './report.ts'

type Row = { n: number; opsPerSecond: number }

function measure({ n, opsPerSecond }: Row): Record<string, number | string> {
  const c = createCluster({
    n,
    seed: 1,
    latencyMs: 50,
    tickMs: 1000,
    phases: 'random',
    bc: { mode: 'push', fanout: 2 },
    ae: {},
    bcPeersMax: 128,
    hubs: 0,
  })
  let aeBytes = 0
  let aeOpBytes = 0
  let aeOpCopies = 0
  let fastBytes = 0
  let measuring = false
  const trace = c.k.trace.bind(c.k)
  c.k.trace = (...parts) => {
    const bytes = parts[4]
    if (parts[0] === 'd' && measuring && bytes instanceof Uint8Array) {
      if ((bytes[0] ?? 0) >= 0x11) fastBytes += bytes.length
      else {
        aeBytes += bytes.length
        const m = antiEntropy.decodeMessage(bytes, antiEntropy.antiEntropyDefaults)
        const checked = m.ok ? antiEntropy.checkMessage(m.value, antiEntropy.antiEntropyDefaults) : m
        if (checked.ok && checked.value.type === 'ae.delta') {
          for (const b of checked.value.batches) {
            for (const e of b) {
              aeOpBytes += e.bytes.length
              aeOpCopies++
            }
          }
        }
      }
    }
    trace(...parts)
  }
  for (let i = 0; i < n; i++) c.writeEverywhere(i)
  let opBytes = 0
  let ops = 0
  const rounds = 60
  const warmup = 10
  for (let r = 0; r < rounds; r++) {
    if (r === warmup) measuring = true
    for (let j = 0; j < opsPerSecond; j++) {
      const i = (r * opsPerSecond + j) % n
      c.k.run(c.k.nowMs() + Math.floor(1000 / opsPerSecond))
      c.write(i)
      if (!measuring) continue
      const x = c.nodes[i]
      const own = x?.signer === undefined ? undefined : x.log.get(x.signer.author)
      const e = own?.[own.length - 1]
      if (e !== undefined) {
        opBytes += e.bytes.length
        ops++
      }
    }
  }
  c.k.run(c.k.nowMs() + 5000) // let the last writes arrive; late digests are counted, not their ops
  measuring = false
  const delivered = opBytes * (n - 1)
  return {
    n,
    opsPerSecond,
    opBytesMean: Math.round(opBytes / ops),
    aeBytesPerOpByte: Number((aeBytes / delivered).toFixed(3)),
    aeOpShare: Number((aeOpBytes / aeBytes).toFixed(3)),
    aeOpCopiesPerDelivery: Number((aeOpCopies / (ops * (n - 1))).toFixed(3)),
    fastBytesPerOpByte: Number((fastBytes / delivered).toFixed(3)),
  }
}

for (const row of [
  { n: 7, opsPerSecond: 1 },
  { n: 7, opsPerSecond: 10 },
  { n: 7, opsPerSecond: 100 },
  { n: 25, opsPerSecond: 1 },
  { n: 25, opsPerSecond: 10 },
]) {
  console.log(JSON.stringify(measure(row)))
}
