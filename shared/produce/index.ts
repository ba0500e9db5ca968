export { produceMessages, type OutgoingMessage, type ProduceMessagesOptions, type ProduceProgress } from './produce-messages.ts';
