/** `npm run sim`: the deterministic simulator (design.md section 2) is a placeholder until issue 4. */
console.log('the simulator arrives with issue 4')
