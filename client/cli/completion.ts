// Shell completion scripts, generated from the command tree (program.ts's CommandDefs): the verbs,
// each verb's first argument (resource kinds, subcommands) and its flags; after a flag whose value
// is a FILE, file names; after -o, the output formats. zsh runs the same function through
// bashcompinit.

import type { CommandDef } from './program.js';

const OUTPUT_FORMATS = 'json yaml name wide';

const words = (list: readonly string[]) => [...new Set(list)].join(' ');

function flagsOf(def: CommandDef): string[] {
  const all = [def, ...(def.subcommands ?? [])].flatMap((d) => d.flags ?? []);
  return [...all.flatMap((f) => [`--${f.name}`, ...(f.short ? [`-${f.short}`] : [])]), '--help'];
}

function fileFlags(defs: readonly CommandDef[]): string[] {
  const all = defs.flatMap((d) => [d, ...(d.subcommands ?? [])]).flatMap((d) => d.flags ?? []);
  return [
    ...new Set(
      all
        .filter((f) => f.value === 'FILE')
        .flatMap((f) => [`--${f.name}`, ...(f.short ? [`-${f.short}`] : [])]),
    ),
  ];
}

/** The bash completion script for `program` (a function `_<program>` and its `complete` line). */
export function bashCompletion(program: string, defs: readonly CommandDef[]): string {
  const fn = `_${program}_complete`;
  const verbs = defs.filter((d) => !d.external || program === 'ferry').map((d) => d.name);
  const cases = defs
    .filter((d) => !d.external)
    .map((d) => {
      const first = d.subcommands?.map((s) => s.name) ?? d.completes ?? [];
      return `    ${[d.name, ...(d.aliases ?? [])].join('|')})
      if [[ $cur == -* ]]; then words="${words(flagsOf(d))}"
      elif (( n == 0 )); then words="${words(first)}"
      fi ;;`;
    })
    .join('\n');
  return `# ${program} completion for bash: source <(${program} completion bash)
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local cmd="" n=0 i w words=""
  case "$prev" in
    ${fileFlags(defs).join('|')}) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    -o|--output) COMPREPLY=($(compgen -W "${OUTPUT_FORMATS}" -- "$cur")); return ;;
  esac
  for (( i = 1; i < COMP_CWORD; i++ )); do
    w="\${COMP_WORDS[i]}"
    [[ $w == -* ]] && continue
    if [[ -z $cmd ]]; then cmd="$w"; else n=$((n + 1)); fi
  done
  if [[ -z $cmd ]]; then
    words="${words([...verbs, 'help'])}"
  else
    case "$cmd" in
${cases}
    help) (( n == 0 )) && words="${words(verbs)}" ;;
    esac
  fi
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F ${fn} ${program}
`;
}

/** The zsh script: bash's function through zsh's bashcompinit. */
export function zshCompletion(program: string, defs: readonly CommandDef[]): string {
  return `#compdef ${program}
# ${program} completion for zsh: source <(${program} completion zsh)
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(program, defs).split('\n').slice(1).join('\n')}`;
}
